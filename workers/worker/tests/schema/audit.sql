-- The part of TestPlanIt's schema (shared spec §14) the audit-log worker touches, as
-- `prisma db push` creates it: quoted PascalCase tables, camelCase columns, enum types.
-- Needs users.sql and projects.sql first.
CREATE TYPE "AuditAction" AS ENUM (
  'CREATE', 'UPDATE', 'DELETE', 'BULK_CREATE', 'BULK_UPDATE', 'BULK_DELETE', 'LOGIN', 'LOGOUT',
  'LOGIN_FAILED', 'SESSION_INVALIDATED', 'PASSWORD_CHANGED', 'PASSWORD_RESET', 'PERMISSION_GRANT',
  'PERMISSION_REVOKE', 'ROLE_CHANGED', 'API_KEY_CREATED', 'API_KEY_DELETED', 'API_KEY_REGENERATED',
  'API_KEY_REVOKED', 'DATA_EXPORTED', 'SSO_CONFIG_CHANGED', 'SYSTEM_CONFIG_CHANGED',
  'SHARE_LINK_CREATED', 'SHARE_LINK_ACCESSED', 'SHARE_LINK_REVOKED');

CREATE TABLE "AuditLog" (
  "id" text PRIMARY KEY,
  "userId" text,
  "userEmail" text,
  "userName" text,
  "action" "AuditAction" NOT NULL,
  "entityType" varchar(100) NOT NULL,
  "entityId" text NOT NULL,
  "entityName" text,
  "changes" jsonb,
  "metadata" jsonb,
  "timestamp" timestamptz(6) NOT NULL DEFAULT now(),
  "projectId" integer REFERENCES "Projects"("id") ON DELETE SET NULL
);
