"""Input of the console's sticker pages (moderation.views.stickers)."""

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from chatrooms.stickers.services import NAME_MAX, UploadedFile


class PackNameForm(forms.Form):
    name = forms.CharField(label="Name", max_length=NAME_MAX)


class StickerNameForm(forms.Form):
    name = forms.CharField(label="Name", max_length=NAME_MAX, required=False)


class EnableForm(forms.Form):
    enabled = forms.TypedChoiceField(
        label="Enabled", choices=[("1", "On"), ("0", "Off")], coerce=lambda v: v == "1"
    )


def _read(upload) -> UploadedFile:
    limit = settings.CHATROOM_STICKER_MAX_BYTES
    if upload.size > limit:
        raise ValidationError(f"{upload.name} is larger than {limit // 1024} KiB.")
    return UploadedFile(name=upload.name, data=upload.read(limit + 1))


class CoverForm(forms.Form):
    image = forms.FileField(label="Cover image", help_text="PNG, JPEG or GIF.")

    def clean_image(self):
        return _read(self.cleaned_data["image"])


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)]


class StickersForm(forms.Form):
    images = MultipleFileField(
        label="Sticker images",
        help_text="PNG, JPEG or GIF (animated GIFs too); each file becomes a sticker named "
        "after it.",
    )

    def clean_images(self):
        files = self.cleaned_data["images"]
        batch = settings.CHATROOM_STICKER_MAX_BATCH
        if len(files) > batch:
            raise ValidationError(f"Add at most {batch} stickers at a time.")
        return [_read(upload) for upload in files]
