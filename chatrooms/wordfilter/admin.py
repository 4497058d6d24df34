"""The word filter in the Django admin: read-only (changes go through the services, from
the API and the console, so that each is audited and every matcher sees it)."""

from django.contrib import admin
from django.db.models import Count

from chatrooms.admin import ReadOnlyAdmin
from chatrooms.wordfilter.models import ChatroomDictionary, Dictionary, Pattern


@admin.register(Dictionary)
class DictionaryAdmin(ReadOnlyAdmin):
    list_display = ["name", "default", "language", "match_mode", "pattern_count", "updated_at"]
    list_filter = ["default", "match_mode"]
    search_fields = ["name", "description"]
    uuid_search_fields = ("pk",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(pattern_count=Count("patterns"))

    @admin.display(description="patterns", ordering="pattern_count")
    def pattern_count(self, obj):
        return obj.pattern_count


@admin.register(Pattern)
class PatternAdmin(ReadOnlyAdmin):
    list_display = ["text", "dictionary", "created_at"]
    list_select_related = ["dictionary"]
    list_filter = ["dictionary"]
    search_fields = ["key"]
    uuid_search_fields = ("pk", "dictionary_id")
    ordering = ["dictionary", "created_at"]


@admin.register(ChatroomDictionary)
class ChatroomDictionaryAdmin(ReadOnlyAdmin):
    list_display = ["room", "dictionary", "enabled_at"]
    list_select_related = ["room", "dictionary"]
    uuid_search_fields = ("room_id", "dictionary_id")
