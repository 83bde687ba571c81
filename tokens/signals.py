"""Signals the tokens app sends. Receivers get `sender` (the user model class) and the keywords
listed beside each signal. Django's own `user_logged_in`, `user_logged_out` and
`user_login_failed` are sent too, with credentials scrubbed.
"""

from django.dispatch import Signal

# A login created a session. Keywords: user, session_id, request (or None).
session_created = Signal()

# A refresh moved a session to a new refresh token. Keywords: user_id, session_id, request.
session_rotated = Signal()

# A session ended. Keywords: user_id, session_id, reason, request (or None). `reason` is one of
# "logout", "logout_all", "password_change", "deactivated", "deleted", "admin", "reuse",
# "max_sessions", "revoke".
session_revoked = Signal()

# A rotated-away refresh token was replayed after the grace window; its session was ended.
# Keywords: user_id, session_id, request.
refresh_token_reused = Signal()
