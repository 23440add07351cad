-- The tables the forecast worker reads and writes (shared spec §5, §14): milestones,
-- repository cases and their links, runs with their cases and results, JUnit results,
-- sessions and statuses, as `prisma db push` creates them. Load after users.sql and
-- projects.sql. Columns that only point at tables outside this subset (templates, workflows,
-- folders...) are plain integers here.
CREATE TYPE "RepositoryCaseSource" AS ENUM ('MANUAL', 'JUNIT', 'TESTNG', 'XUNIT', 'NUNIT', 'MSTEST', 'MOCHA', 'CUCUMBER', 'API');
CREATE TYPE "LinkType" AS ENUM ('SAME_TEST_DIFFERENT_SOURCE', 'DEPENDS_ON');
CREATE TYPE "JUnitResultType" AS ENUM ('PASSED', 'FAILURE', 'ERROR', 'SKIPPED');

CREATE TABLE "Status" (
  "id" serial PRIMARY KEY,
  "order" serial,
  "name" text NOT NULL,
  "systemName" text NOT NULL UNIQUE,
  "aliases" text,
  "colorId" integer NOT NULL DEFAULT 1,
  "isDeleted" boolean NOT NULL DEFAULT false,
  "isEnabled" boolean NOT NULL DEFAULT true,
  "isSuccess" boolean NOT NULL DEFAULT false,
  "isFailure" boolean NOT NULL DEFAULT false,
  "isCompleted" boolean NOT NULL DEFAULT false
);

CREATE TABLE "Milestones" (
  "id" serial PRIMARY KEY,
  "projectId" integer NOT NULL REFERENCES "Projects"("id") ON DELETE CASCADE,
  "rootId" integer REFERENCES "Milestones"("id"),
  "parentId" integer REFERENCES "Milestones"("id"),
  "milestoneTypesId" integer NOT NULL DEFAULT 1,
  "name" text NOT NULL,
  "note" jsonb,
  "docs" jsonb,
  "isStarted" boolean NOT NULL DEFAULT false,
  "isCompleted" boolean NOT NULL DEFAULT false,
  "isDeleted" boolean NOT NULL DEFAULT false,
  "automaticCompletion" boolean NOT NULL DEFAULT false,
  "notifyDaysBefore" integer NOT NULL DEFAULT 0,
  "startedAt" timestamptz(6),
  "completedAt" timestamptz(6),
  "createdAt" timestamptz(6) NOT NULL DEFAULT now(),
  "createdBy" text NOT NULL REFERENCES "User"("id")
);

CREATE TABLE "RepositoryCases" (
  "id" serial PRIMARY KEY,
  "projectId" integer NOT NULL REFERENCES "Projects"("id"),
  "repositoryId" integer NOT NULL DEFAULT 1,
  "folderId" integer NOT NULL DEFAULT 1,
  "templateId" integer NOT NULL DEFAULT 1,
  "name" text NOT NULL,
  "className" text,
  "source" "RepositoryCaseSource" NOT NULL DEFAULT 'MANUAL',
  "stateId" integer NOT NULL DEFAULT 1,
  "estimate" integer,
  "forecastManual" integer,
  "forecastAutomated" double precision,
  "order" integer NOT NULL DEFAULT 0,
  "createdAt" timestamptz(6) NOT NULL DEFAULT now(),
  "creatorId" text NOT NULL REFERENCES "User"("id"),
  "automated" boolean NOT NULL DEFAULT false,
  "isArchived" boolean NOT NULL DEFAULT false,
  "isDeleted" boolean NOT NULL DEFAULT false,
  "currentVersion" integer NOT NULL DEFAULT 1,
  UNIQUE ("projectId", "name", "className", "source")
);

CREATE TABLE "RepositoryCaseLink" (
  "id" serial PRIMARY KEY,
  "caseAId" integer NOT NULL REFERENCES "RepositoryCases"("id"),
  "caseBId" integer NOT NULL REFERENCES "RepositoryCases"("id"),
  "type" "LinkType" NOT NULL,
  "isDeleted" boolean NOT NULL DEFAULT false,
  "createdAt" timestamp(3) NOT NULL DEFAULT now(),
  "createdById" text NOT NULL REFERENCES "User"("id"),
  UNIQUE ("caseAId", "caseBId", "type")
);

CREATE TABLE "TestRuns" (
  "id" serial PRIMARY KEY,
  "projectId" integer NOT NULL REFERENCES "Projects"("id"),
  "name" text NOT NULL,
  "note" jsonb,
  "docs" jsonb,
  "configId" integer,
  "milestoneId" integer REFERENCES "Milestones"("id"),
  "stateId" integer NOT NULL DEFAULT 1,
  "forecastManual" integer,
  "forecastAutomated" double precision,
  "elapsed" integer,
  "isCompleted" boolean NOT NULL DEFAULT false,
  "isDeleted" boolean NOT NULL DEFAULT false,
  "completedAt" timestamp(3),
  "createdAt" timestamptz(6) NOT NULL DEFAULT now(),
  "createdById" text NOT NULL REFERENCES "User"("id"),
  "testRunType" text NOT NULL DEFAULT 'REGULAR',
  "configurationGroupId" text
);

CREATE TABLE "TestRunCases" (
  "id" serial PRIMARY KEY,
  "testRunId" integer NOT NULL REFERENCES "TestRuns"("id") ON DELETE CASCADE,
  "repositoryCaseId" integer NOT NULL REFERENCES "RepositoryCases"("id") ON DELETE CASCADE,
  "order" integer NOT NULL DEFAULT 0,
  "statusId" integer REFERENCES "Status"("id"),
  "assignedToId" text REFERENCES "User"("id"),
  "isCompleted" boolean NOT NULL DEFAULT false,
  "startedAt" timestamp(3),
  "completedAt" timestamp(3),
  "elapsed" integer,
  "createdAt" timestamp(3) NOT NULL DEFAULT now(),
  UNIQUE ("testRunId", "repositoryCaseId")
);

CREATE TABLE "TestRunResults" (
  "id" serial PRIMARY KEY,
  "testRunId" integer NOT NULL REFERENCES "TestRuns"("id"),
  "testRunCaseId" integer NOT NULL REFERENCES "TestRunCases"("id"),
  "testRunCaseVersion" integer NOT NULL DEFAULT 1,
  "statusId" integer NOT NULL REFERENCES "Status"("id"),
  "executedById" text NOT NULL REFERENCES "User"("id"),
  "executedAt" timestamptz(6) NOT NULL DEFAULT now(),
  "elapsed" integer,
  "attempt" integer NOT NULL DEFAULT 1,
  "isDeleted" boolean NOT NULL DEFAULT false
);

CREATE TABLE "JUnitTestSuite" (
  "id" serial PRIMARY KEY,
  "name" text NOT NULL,
  "time" double precision,
  "testRunId" integer NOT NULL REFERENCES "TestRuns"("id"),
  "createdAt" timestamp(3) NOT NULL DEFAULT now(),
  "createdById" text NOT NULL REFERENCES "User"("id")
);

CREATE TABLE "JUnitTestResult" (
  "id" serial PRIMARY KEY,
  "type" "JUnitResultType" NOT NULL DEFAULT 'PASSED',
  "message" text,
  "repositoryCaseId" integer NOT NULL REFERENCES "RepositoryCases"("id"),
  "executedAt" timestamptz(6),
  "time" double precision,
  "testSuiteId" integer NOT NULL REFERENCES "JUnitTestSuite"("id"),
  "createdAt" timestamp(3) NOT NULL DEFAULT now(),
  "createdById" text NOT NULL REFERENCES "User"("id"),
  "statusId" integer REFERENCES "Status"("id")
);

CREATE TABLE "Sessions" (
  "id" serial PRIMARY KEY,
  "projectId" integer NOT NULL REFERENCES "Projects"("id"),
  "templateId" integer NOT NULL DEFAULT 1,
  "name" text NOT NULL,
  "note" jsonb,
  "mission" jsonb,
  "configId" integer,
  "milestoneId" integer REFERENCES "Milestones"("id"),
  "stateId" integer NOT NULL DEFAULT 1,
  "assignedToId" text REFERENCES "User"("id"),
  "estimate" integer,
  "forecastManual" integer,
  "forecastAutomated" double precision,
  "elapsed" integer,
  "isCompleted" boolean NOT NULL DEFAULT false,
  "isDeleted" boolean NOT NULL DEFAULT false,
  "completedAt" timestamp(3),
  "createdAt" timestamptz(6) NOT NULL DEFAULT now(),
  "createdById" text NOT NULL REFERENCES "User"("id"),
  "currentVersion" integer NOT NULL DEFAULT 1
);
