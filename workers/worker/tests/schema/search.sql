-- The tables the search indexer reads beyond forecast.sql (shared spec §14, checked against
-- TestPlanIt's prisma/schema.prisma): lookups (icons, colours, workflows, templates, milestone
-- types, configurations, tags), folders, steps and shared steps, custom fields, issues and
-- integrations, and the join tables. Load after users.sql, projects.sql and forecast.sql.
CREATE TYPE "IntegrationProvider" AS ENUM ('JIRA', 'GITHUB', 'AZURE_DEVOPS', 'SIMPLE_URL');
CREATE TYPE "IntegrationAuthType" AS ENUM ('NONE', 'OAUTH2', 'PERSONAL_ACCESS_TOKEN', 'API_KEY');
CREATE TYPE "IntegrationStatus" AS ENUM ('ACTIVE', 'INACTIVE', 'ERROR');
CREATE TYPE "WorkflowType" AS ENUM ('NOT_STARTED', 'IN_PROGRESS', 'DONE');
CREATE TYPE "WorkflowScope" AS ENUM ('CASES', 'RUNS', 'SESSIONS');

CREATE TABLE "ColorFamily" (
  "id" serial PRIMARY KEY,
  "name" text NOT NULL UNIQUE,
  "order" integer NOT NULL DEFAULT 0 UNIQUE
);

CREATE TABLE "Color" (
  "id" serial PRIMARY KEY,
  "colorFamilyId" integer NOT NULL REFERENCES "ColorFamily"("id"),
  "value" text NOT NULL,
  "order" integer NOT NULL DEFAULT 0,
  UNIQUE ("colorFamilyId", "order")
);

CREATE TABLE "FieldIcon" (
  "id" serial PRIMARY KEY,
  "name" text NOT NULL UNIQUE
);

CREATE TABLE "Workflows" (
  "id" serial PRIMARY KEY,
  "order" serial,
  "name" text NOT NULL,
  "iconId" integer NOT NULL REFERENCES "FieldIcon"("id"),
  "colorId" integer NOT NULL REFERENCES "Color"("id"),
  "isEnabled" boolean NOT NULL DEFAULT true,
  "isDeleted" boolean NOT NULL DEFAULT false,
  "isDefault" boolean NOT NULL DEFAULT false,
  "workflowType" "WorkflowType" NOT NULL DEFAULT 'NOT_STARTED',
  "scope" "WorkflowScope" NOT NULL
);

CREATE TABLE "Templates" (
  "id" serial PRIMARY KEY,
  "templateName" text NOT NULL UNIQUE,
  "isEnabled" boolean NOT NULL,
  "isDeleted" boolean NOT NULL DEFAULT false,
  "isDefault" boolean NOT NULL
);

CREATE TABLE "MilestoneTypes" (
  "id" serial PRIMARY KEY,
  "name" text NOT NULL UNIQUE,
  "iconId" integer REFERENCES "FieldIcon"("id"),
  "isDefault" boolean NOT NULL DEFAULT false,
  "isDeleted" boolean NOT NULL DEFAULT false
);

CREATE TABLE "Configurations" (
  "id" serial PRIMARY KEY,
  "name" text NOT NULL,
  "isEnabled" boolean NOT NULL DEFAULT true,
  "isDeleted" boolean NOT NULL DEFAULT false
);

CREATE TABLE "Tags" (
  "id" serial PRIMARY KEY,
  "name" text NOT NULL UNIQUE,
  "isDeleted" boolean NOT NULL DEFAULT false
);

CREATE TABLE "Repositories" (
  "id" serial PRIMARY KEY,
  "projectId" integer NOT NULL REFERENCES "Projects"("id"),
  "isActive" boolean NOT NULL DEFAULT true,
  "isArchived" boolean NOT NULL DEFAULT false,
  "isDeleted" boolean NOT NULL DEFAULT false
);

CREATE TABLE "RepositoryFolders" (
  "id" serial PRIMARY KEY,
  "projectId" integer NOT NULL REFERENCES "Projects"("id"),
  "repositoryId" integer NOT NULL REFERENCES "Repositories"("id"),
  "parentId" integer REFERENCES "RepositoryFolders"("id"),
  "name" text NOT NULL,
  "docs" jsonb,
  "createdAt" timestamptz(6) NOT NULL DEFAULT now(),
  "creatorId" text NOT NULL REFERENCES "User"("id"),
  "order" integer NOT NULL DEFAULT 0,
  "isDeleted" boolean NOT NULL DEFAULT false
);

CREATE TABLE "SharedStepGroup" (
  "id" serial PRIMARY KEY,
  "name" text NOT NULL,
  "projectId" integer NOT NULL REFERENCES "Projects"("id"),
  "isDeleted" boolean NOT NULL DEFAULT false,
  "deletedAt" timestamptz(6),
  "createdAt" timestamptz(6) NOT NULL DEFAULT now(),
  "updatedAt" timestamptz(6) NOT NULL,
  "createdById" text NOT NULL REFERENCES "User"("id")
);

CREATE TABLE "SharedStepItem" (
  "id" serial PRIMARY KEY,
  "sharedStepGroupId" integer NOT NULL REFERENCES "SharedStepGroup"("id") ON DELETE CASCADE,
  "order" integer NOT NULL,
  "step" jsonb NOT NULL,
  "expectedResult" jsonb NOT NULL,
  "createdAt" timestamptz(6) NOT NULL DEFAULT now(),
  "updatedAt" timestamptz(6) NOT NULL
);

CREATE TABLE "Steps" (
  "id" serial PRIMARY KEY,
  "isDeleted" boolean NOT NULL DEFAULT false,
  "step" jsonb,
  "expectedResult" jsonb,
  "testCaseId" integer NOT NULL REFERENCES "RepositoryCases"("id") ON DELETE CASCADE,
  "order" integer NOT NULL DEFAULT 0,
  "sharedStepGroupId" integer REFERENCES "SharedStepGroup"("id")
);

CREATE TABLE "CaseFieldTypes" (
  "id" serial PRIMARY KEY,
  "type" text NOT NULL UNIQUE,
  "options" jsonb
);

CREATE TABLE "CaseFields" (
  "id" serial PRIMARY KEY,
  "displayName" text NOT NULL,
  "systemName" text NOT NULL UNIQUE,
  "hint" text,
  "typeId" integer NOT NULL REFERENCES "CaseFieldTypes"("id"),
  "isEnabled" boolean NOT NULL DEFAULT true,
  "isDeleted" boolean NOT NULL DEFAULT false,
  "isRequired" boolean NOT NULL DEFAULT false,
  "isRestricted" boolean NOT NULL DEFAULT false,
  "defaultValue" text,
  "isChecked" boolean,
  "minValue" double precision,
  "maxValue" double precision,
  "initialHeight" integer
);

CREATE TABLE "FieldOptions" (
  "id" serial PRIMARY KEY,
  "name" text NOT NULL,
  "iconId" integer REFERENCES "FieldIcon"("id"),
  "isEnabled" boolean NOT NULL DEFAULT true,
  "isDeleted" boolean NOT NULL DEFAULT false,
  "iconColorId" integer REFERENCES "Color"("id"),
  "isDefault" boolean NOT NULL DEFAULT false,
  "order" integer NOT NULL DEFAULT 0
);

CREATE TABLE "CaseFieldAssignment" (
  "fieldOptionId" integer NOT NULL REFERENCES "FieldOptions"("id") ON DELETE CASCADE,
  "caseFieldId" integer NOT NULL REFERENCES "CaseFields"("id") ON DELETE CASCADE,
  PRIMARY KEY ("fieldOptionId", "caseFieldId")
);

CREATE TABLE "CaseFieldValues" (
  "id" serial PRIMARY KEY,
  "testCaseId" integer NOT NULL REFERENCES "RepositoryCases"("id") ON DELETE CASCADE,
  "fieldId" integer NOT NULL REFERENCES "CaseFields"("id"),
  "value" jsonb
);

CREATE TABLE "SessionResults" (
  "id" serial PRIMARY KEY,
  "isDeleted" boolean NOT NULL DEFAULT false,
  "sessionId" integer NOT NULL REFERENCES "Sessions"("id") ON DELETE CASCADE,
  "resultData" jsonb,
  "createdAt" timestamptz(6) NOT NULL DEFAULT now(),
  "createdById" text NOT NULL REFERENCES "User"("id"),
  "statusId" integer NOT NULL REFERENCES "Status"("id"),
  "elapsed" integer
);

CREATE TABLE "TestRunStepResults" (
  "id" serial PRIMARY KEY,
  "testRunResultId" integer NOT NULL REFERENCES "TestRunResults"("id") ON DELETE CASCADE,
  "stepId" integer NOT NULL REFERENCES "Steps"("id"),
  "sharedStepItemId" integer REFERENCES "SharedStepItem"("id"),
  "statusId" integer NOT NULL REFERENCES "Status"("id"),
  "notes" jsonb,
  "evidence" jsonb,
  "executedAt" timestamptz(6) NOT NULL DEFAULT now(),
  "elapsed" integer,
  "isDeleted" boolean NOT NULL DEFAULT false
);

CREATE TABLE "Integration" (
  "id" serial PRIMARY KEY,
  "name" text NOT NULL UNIQUE,
  "provider" "IntegrationProvider" NOT NULL,
  "authType" "IntegrationAuthType" NOT NULL,
  "status" "IntegrationStatus" NOT NULL DEFAULT 'INACTIVE',
  "credentials" jsonb NOT NULL,
  "settings" jsonb,
  "lastSyncAt" timestamp(3),
  "isDeleted" boolean NOT NULL DEFAULT false,
  "createdAt" timestamp(3) NOT NULL DEFAULT now(),
  "updatedAt" timestamp(3) NOT NULL
);

CREATE TABLE "Issue" (
  "id" serial PRIMARY KEY,
  "name" text NOT NULL,
  "title" text NOT NULL,
  "description" text,
  "status" text,
  "priority" text DEFAULT 'medium',
  "externalId" text,
  "externalKey" text,
  "externalUrl" text,
  "externalStatus" text,
  "externalData" jsonb,
  "issueTypeId" text,
  "issueTypeName" text,
  "issueTypeIconUrl" text,
  "lastSyncedAt" timestamptz(6),
  "data" jsonb,
  "note" jsonb,
  "isDeleted" boolean NOT NULL DEFAULT false,
  "createdAt" timestamptz(6) NOT NULL DEFAULT now(),
  "createdById" text NOT NULL REFERENCES "User"("id"),
  "projectId" integer REFERENCES "Projects"("id"),
  "integrationId" integer REFERENCES "Integration"("id") ON DELETE SET NULL,
  UNIQUE ("externalId", "integrationId")
);

-- Prisma's implicit many-to-many tables: "A" is the first model's id (alphabetically).
CREATE TABLE "_RepositoryCasesToTags" ("A" integer NOT NULL REFERENCES "RepositoryCases"("id") ON DELETE CASCADE, "B" integer NOT NULL REFERENCES "Tags"("id") ON DELETE CASCADE, PRIMARY KEY ("A", "B"));
CREATE TABLE "_SessionsToTags" ("A" integer NOT NULL REFERENCES "Sessions"("id") ON DELETE CASCADE, "B" integer NOT NULL REFERENCES "Tags"("id") ON DELETE CASCADE, PRIMARY KEY ("A", "B"));
CREATE TABLE "_TagsToTestRuns" ("A" integer NOT NULL REFERENCES "Tags"("id") ON DELETE CASCADE, "B" integer NOT NULL REFERENCES "TestRuns"("id") ON DELETE CASCADE, PRIMARY KEY ("A", "B"));
CREATE TABLE "_IssueToRepositoryCases" ("A" integer NOT NULL REFERENCES "Issue"("id") ON DELETE CASCADE, "B" integer NOT NULL REFERENCES "RepositoryCases"("id") ON DELETE CASCADE, PRIMARY KEY ("A", "B"));
CREATE TABLE "_IssueToSessions" ("A" integer NOT NULL REFERENCES "Issue"("id") ON DELETE CASCADE, "B" integer NOT NULL REFERENCES "Sessions"("id") ON DELETE CASCADE, PRIMARY KEY ("A", "B"));
CREATE TABLE "_IssueToSessionResults" ("A" integer NOT NULL REFERENCES "Issue"("id") ON DELETE CASCADE, "B" integer NOT NULL REFERENCES "SessionResults"("id") ON DELETE CASCADE, PRIMARY KEY ("A", "B"));
CREATE TABLE "_IssueToTestRuns" ("A" integer NOT NULL REFERENCES "Issue"("id") ON DELETE CASCADE, "B" integer NOT NULL REFERENCES "TestRuns"("id") ON DELETE CASCADE, PRIMARY KEY ("A", "B"));
CREATE TABLE "_IssueToTestRunResults" ("A" integer NOT NULL REFERENCES "Issue"("id") ON DELETE CASCADE, "B" integer NOT NULL REFERENCES "TestRunResults"("id") ON DELETE CASCADE, PRIMARY KEY ("A", "B"));
CREATE TABLE "_IssueToTestRunStepResults" ("A" integer NOT NULL REFERENCES "Issue"("id") ON DELETE CASCADE, "B" integer NOT NULL REFERENCES "TestRunStepResults"("id") ON DELETE CASCADE, PRIMARY KEY ("A", "B"));
CREATE INDEX ON "_RepositoryCasesToTags" ("B");
CREATE INDEX ON "_SessionsToTags" ("B");
CREATE INDEX ON "_TagsToTestRuns" ("B");
CREATE INDEX ON "_IssueToRepositoryCases" ("B");
CREATE INDEX ON "_IssueToSessions" ("B");
CREATE INDEX ON "_IssueToSessionResults" ("B");
CREATE INDEX ON "_IssueToTestRuns" ("B");
CREATE INDEX ON "_IssueToTestRunResults" ("B");
CREATE INDEX ON "_IssueToTestRunStepResults" ("B");

-- The indexes `prisma db push` creates on what the indexer reads page by page.
CREATE INDEX ON "RepositoryCases" ("projectId", "isDeleted", "isArchived");
CREATE INDEX ON "RepositoryCases" ("folderId", "order");
CREATE INDEX ON "TestRuns" ("projectId", "isDeleted");
CREATE INDEX ON "Sessions" ("projectId", "isDeleted");
CREATE INDEX ON "Milestones" ("projectId", "isDeleted");
CREATE INDEX ON "Milestones" ("parentId");
CREATE INDEX ON "RepositoryFolders" ("parentId");
CREATE INDEX ON "Steps" ("testCaseId");
CREATE INDEX ON "Steps" ("sharedStepGroupId");
CREATE INDEX ON "SharedStepItem" ("sharedStepGroupId");
CREATE INDEX ON "SharedStepGroup" ("projectId");
CREATE INDEX ON "CaseFieldValues" ("testCaseId");
CREATE INDEX ON "CaseFieldValues" ("fieldId");
CREATE INDEX ON "Issue" ("projectId");
CREATE INDEX ON "Issue" ("integrationId");
