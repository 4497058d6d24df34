"""The console's pages and actions, one module per page.

Views are thin: check the role (``moderation.access``), read through
``chatrooms.selectors``, write through one ``chatrooms.services`` call, and
answer an action with a redirect back to where the moderator was, carrying a
message that says what happened (post/redirect/get).
"""
