"""The throwaway site's users: a UUID primary key and the email address as the login name."""
