-- Idempotency keys are claimed by the business transaction itself (a transaction-scoped advisory
-- lock) and their row is written only with the response, so the claim columns go. Rows of claims
-- left by the previous version are in flight or dead: neither has a response to replay.
DELETE FROM "idempotency_keys" WHERE "completed_at" IS NULL OR "response_body" IS NULL;--> statement-breakpoint
ALTER TABLE "idempotency_keys" ALTER COLUMN "completed_at" SET DEFAULT now();--> statement-breakpoint
ALTER TABLE "idempotency_keys" ALTER COLUMN "completed_at" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "idempotency_keys" ALTER COLUMN "response_status" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "idempotency_keys" ALTER COLUMN "response_headers" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "idempotency_keys" ALTER COLUMN "response_body" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "idempotency_keys" DROP COLUMN "claim_token";--> statement-breakpoint
ALTER TABLE "idempotency_keys" DROP COLUMN "claimed_at";