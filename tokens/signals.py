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

# A rotated-away refresh token was presented to refresh outside the grace window or past
# TOKENS["ROTATION_MAX_REPLAYS"], or to log out or revoke (RFC 7009); its session was ended.
# Keywords: user_id, session_id, request.
refresh_token_reused = Signal()

# A refresh presented the token its session had just rotated away, inside the grace window and
# under the replay cap, and got the same successor again (an honest concurrent refresh, or a
# thief within the window: watch their rate). Keywords: user_id, session_id, replays (how many
# this rotation has now accepted), request.
refresh_token_grace = Signal()
