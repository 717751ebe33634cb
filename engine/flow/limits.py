"""WhatsApp Cloud API limits (Meta's OpenAPI spec v23.0), checked by lint and kept at run time."""

REPLY_BUTTONS = 3
BUTTON_TITLE = 20
BUTTON_ID = 256
LIST_ROWS = 10
LIST_SECTIONS = 10
LIST_BUTTON = 20
ROW_TITLE = 24
ROW_DESCRIPTION = 72
ROW_ID = 200
SECTION_TITLE = 24
INTERACTIVE_BODY = 1024
HEADER = 60
FOOTER = 60
TEXT_BODY = 4096
SERVICE_WINDOW = 24 * 3600.0  # seconds after the user's last message in which free-form text may be sent
