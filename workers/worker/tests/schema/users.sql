-- TestPlanIt's users, their preferences, the app configuration and notifications (shared
-- spec §14), as `prisma db push` creates them.
CREATE TYPE "NotificationMode" AS ENUM ('NONE', 'IN_APP', 'IN_APP_EMAIL_IMMEDIATE', 'IN_APP_EMAIL_DAILY', 'USE_GLOBAL');
CREATE TYPE "Locale" AS ENUM ('en_US', 'es_ES', 'fr_FR');
CREATE TYPE "NotificationType" AS ENUM ('WORK_ASSIGNED', 'SESSION_ASSIGNED', 'SYSTEM_ANNOUNCEMENT', 'USER_REGISTERED',
  'COMMENT_MENTION', 'MILESTONE_DUE_REMINDER', 'SHARE_LINK_ACCESSED');

CREATE TABLE "User" (
  "id" text PRIMARY KEY,
  "name" text NOT NULL,
  "email" text NOT NULL UNIQUE,
  "password" text NOT NULL DEFAULT '',
  "image" text,
  "isActive" boolean NOT NULL DEFAULT true,
  "isDeleted" boolean NOT NULL DEFAULT false,
  "createdAt" timestamptz(6) NOT NULL DEFAULT now(),
  "updatedAt" timestamp(3) NOT NULL
);

CREATE TABLE "UserPreferences" (
  "id" text PRIMARY KEY,
  "userId" text NOT NULL UNIQUE REFERENCES "User"("id") ON DELETE CASCADE,
  "locale" "Locale" NOT NULL DEFAULT 'en_US',
  "timezone" text NOT NULL DEFAULT 'Etc/UTC',
  "notificationMode" "NotificationMode" NOT NULL DEFAULT 'USE_GLOBAL',
  "emailNotifications" boolean NOT NULL DEFAULT true,
  "inAppNotifications" boolean NOT NULL DEFAULT true
);

CREATE TABLE "AppConfig" (
  "key" text PRIMARY KEY,
  "value" jsonb NOT NULL
);

CREATE TABLE "Notification" (
  "id" text PRIMARY KEY,
  "userId" text NOT NULL REFERENCES "User"("id") ON DELETE CASCADE,
  "type" "NotificationType" NOT NULL,
  "title" text NOT NULL,
  "message" text NOT NULL,
  "data" jsonb,
  "isRead" boolean NOT NULL DEFAULT false,
  "isDeleted" boolean NOT NULL DEFAULT false,
  "relatedEntityId" text,
  "relatedEntityType" text,
  "createdAt" timestamptz(6) NOT NULL DEFAULT now(),
  "updatedAt" timestamp(3) NOT NULL
);
