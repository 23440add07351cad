-- The sync worker's own table beyond search.sql's "Integration" and "Issue": a user's OAuth
-- authorisation of an integration, as `prisma db push` creates it.
CREATE TABLE "UserIntegrationAuth" (
  "id" text PRIMARY KEY,
  "userId" text NOT NULL REFERENCES "User"("id") ON DELETE CASCADE,
  "integrationId" integer NOT NULL REFERENCES "Integration"("id") ON DELETE CASCADE,
  "accessToken" text NOT NULL,
  "refreshToken" text,
  "tokenExpiresAt" timestamp(3),
  "additionalData" jsonb,
  "isActive" boolean NOT NULL DEFAULT true,
  "lastUsedAt" timestamp(3),
  "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt" timestamp(3) NOT NULL,
  UNIQUE ("userId", "integrationId")
);
CREATE INDEX ON "UserIntegrationAuth" ("integrationId", "isActive");
