-- Whether the API's role is a superuser (it should be elier_api or
-- elier_reader: sql/roles.sql), and its name, for the warning at start.
SELECT current_user::text, rolsuper FROM pg_roles WHERE rolname = current_user
