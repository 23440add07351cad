-- TestPlanIt's projects (shared spec §14), which audit.sql and forecast.sql refer to. Needs
-- users.sql first.
CREATE TABLE "Projects" (
  "id" serial PRIMARY KEY,
  "name" text NOT NULL UNIQUE,
  "iconUrl" text,
  "note" text,
  "docs" text,
  "isCompleted" boolean NOT NULL DEFAULT false,
  "isDeleted" boolean NOT NULL DEFAULT false,
  "completedAt" date,
  "createdAt" timestamptz(6) NOT NULL DEFAULT now(),
  "createdBy" text NOT NULL REFERENCES "User"("id")
);
