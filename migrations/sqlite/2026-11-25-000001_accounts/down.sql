DROP TABLE mail_outbox;
DROP TABLE audit_events;
DROP TABLE password_resets;
DROP TABLE invitations;
DROP TABLE login_throttle;
DROP TABLE refresh_tokens;
DROP TABLE users;
DROP TABLE organizations;
