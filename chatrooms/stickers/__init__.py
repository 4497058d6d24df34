"""Stickers: organisation-wide sticker packs, their images, and which rooms enable them.

Packs are managed with a sticker token (POST /stickerpacks/tokens) or a room admin's
chatroom token; images are uploaded to a presigned URL, then checked and thumbnailed
with Pillow on ``:complete`` (``chatrooms.stickers.images``). A room admin enables
packs for the room; viewers send INTERACTION_TYPE_STICKER messages naming a sticker of
an enabled pack, which ``services.messages_send`` resolves (``chatrooms.stickers.messages``).
The room domain does not import this package, except that hook and the models import.
"""
