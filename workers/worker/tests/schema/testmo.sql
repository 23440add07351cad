-- The Testmo import's job, dataset and staging tables, as `prisma db push` creates them.
CREATE TYPE "TestmoImportStatus" AS ENUM ('QUEUED', 'RUNNING', 'READY', 'COMPLETED', 'FAILED', 'CANCELED');
CREATE TYPE "TestmoImportPhase" AS ENUM ('UPLOADING', 'ANALYZING', 'CONFIGURING', 'IMPORTING', 'FINALIZING');

CREATE TABLE "TestmoImportJob" (
  "id" text PRIMARY KEY,
  "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt" timestamp(3) NOT NULL,
  "createdById" text NOT NULL REFERENCES "User"("id"),
  "status" "TestmoImportStatus" NOT NULL DEFAULT 'QUEUED',
  "statusMessage" text,
  "phase" "TestmoImportPhase",
  "storageKey" text NOT NULL,
  "storageBucket" text,
  "originalFileName" text NOT NULL,
  "originalFileSize" bigint,
  "totalDatasets" integer,
  "processedDatasets" integer NOT NULL DEFAULT 0,
  "totalRows" bigint,
  "processedRows" bigint NOT NULL DEFAULT 0,
  "durationMs" integer,
  "startedAt" timestamp(3),
  "completedAt" timestamp(3),
  "canceledAt" timestamp(3),
  "cancelRequested" boolean NOT NULL DEFAULT false,
  "error" text,
  "processedCount" integer NOT NULL DEFAULT 0,
  "errorCount" integer NOT NULL DEFAULT 0,
  "skippedCount" integer NOT NULL DEFAULT 0,
  "totalCount" integer NOT NULL DEFAULT 0,
  "currentEntity" text,
  "estimatedTimeRemaining" text,
  "processingRate" text,
  "activityLog" jsonb,
  "entityProgress" jsonb,
  "options" jsonb,
  "configuration" jsonb,
  "analysis" jsonb,
  "analysisGeneratedAt" timestamp(3),
  "lastImportStartedAt" timestamp(3)
);

CREATE TABLE "TestmoImportDataset" (
  "id" serial PRIMARY KEY,
  "jobId" text NOT NULL REFERENCES "TestmoImportJob"("id") ON DELETE CASCADE,
  "name" text NOT NULL,
  "rowCount" integer NOT NULL,
  "sampleRowCount" integer NOT NULL,
  "truncated" boolean NOT NULL,
  "schema" jsonb,
  "sampleRows" jsonb,
  "allRows" jsonb,
  "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX ON "TestmoImportDataset" ("jobId");
CREATE INDEX ON "TestmoImportDataset" ("name");

CREATE TABLE "TestmoImportStaging" (
  "id" text PRIMARY KEY,
  "jobId" text NOT NULL,
  "datasetName" text NOT NULL,
  "rowIndex" integer NOT NULL,
  "rowData" jsonb NOT NULL,
  "fieldName" text,
  "fieldValue" text,
  "text1" text,
  "text2" text,
  "text3" text,
  "text4" text,
  "processed" boolean NOT NULL DEFAULT false,
  "error" text,
  "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updatedAt" timestamp(3) NOT NULL
);
CREATE INDEX ON "TestmoImportStaging" ("jobId", "datasetName", "processed");
CREATE INDEX ON "TestmoImportStaging" ("jobId", "processed");
CREATE INDEX ON "TestmoImportStaging" ("jobId", "datasetName", "rowIndex");
