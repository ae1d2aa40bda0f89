-- Exact totals of the default lists (db/schema.ts `list_counts`): statement-level triggers add
-- each statement's net change per scope, in the statement's own transaction, so a total is a sum
-- of at most 64 slot rows however large the table grows. Updates that change no scope write
-- nothing. Writers are held off while the triggers are created and the totals backfilled, so no
-- row is counted twice or missed.
CREATE TABLE "list_counts" (
	"scope" text NOT NULL,
	"slot" smallint NOT NULL,
	"n" bigint NOT NULL,
	CONSTRAINT "list_counts_scope_slot_pk" PRIMARY KEY("scope","slot")
);
--> statement-breakpoint
LOCK TABLE "projects", "community_posts" IN SHARE MODE;--> statement-breakpoint
-- One statement per event, written out: a shared helper taking arrays measured twice as costly.
CREATE FUNCTION "projects_list_counts"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO list_counts (scope, slot, n)
    SELECT s.scope, (txid_current() % 64)::smallint, count(*)
    FROM new_rows r, LATERAL (VALUES ('projects'), ('projects:owner:' || r.owner_id)) s(scope) GROUP BY s.scope
    ON CONFLICT (scope, slot) DO UPDATE SET n = list_counts.n + excluded.n;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO list_counts (scope, slot, n)
    SELECT s.scope, (txid_current() % 64)::smallint, -count(*)
    FROM old_rows r, LATERAL (VALUES ('projects'), ('projects:owner:' || r.owner_id)) s(scope) GROUP BY s.scope
    ON CONFLICT (scope, slot) DO UPDATE SET n = list_counts.n + excluded.n;
  ELSE
    INSERT INTO list_counts (scope, slot, n)
    SELECT d.scope, (txid_current() % 64)::smallint, sum(d.delta) FROM (
      SELECT s.scope, 1 AS delta FROM new_rows r, LATERAL (VALUES ('projects'), ('projects:owner:' || r.owner_id)) s(scope)
      UNION ALL
      SELECT s.scope, -1 FROM old_rows r, LATERAL (VALUES ('projects'), ('projects:owner:' || r.owner_id)) s(scope)
    ) d GROUP BY d.scope HAVING sum(d.delta) <> 0
    ON CONFLICT (scope, slot) DO UPDATE SET n = list_counts.n + excluded.n;
  END IF;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE FUNCTION "community_posts_list_counts"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO list_counts (scope, slot, n)
    SELECT s.scope, (txid_current() % 64)::smallint, count(*)
    FROM new_rows r, LATERAL (VALUES ('posts'), ('posts:status:' || r.status)) s(scope) GROUP BY s.scope
    ON CONFLICT (scope, slot) DO UPDATE SET n = list_counts.n + excluded.n;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO list_counts (scope, slot, n)
    SELECT s.scope, (txid_current() % 64)::smallint, -count(*)
    FROM old_rows r, LATERAL (VALUES ('posts'), ('posts:status:' || r.status)) s(scope) GROUP BY s.scope
    ON CONFLICT (scope, slot) DO UPDATE SET n = list_counts.n + excluded.n;
  ELSE
    INSERT INTO list_counts (scope, slot, n)
    SELECT d.scope, (txid_current() % 64)::smallint, sum(d.delta) FROM (
      SELECT s.scope, 1 AS delta FROM new_rows r, LATERAL (VALUES ('posts'), ('posts:status:' || r.status)) s(scope)
      UNION ALL
      SELECT s.scope, -1 FROM old_rows r, LATERAL (VALUES ('posts'), ('posts:status:' || r.status)) s(scope)
    ) d GROUP BY d.scope HAVING sum(d.delta) <> 0
    ON CONFLICT (scope, slot) DO UPDATE SET n = list_counts.n + excluded.n;
  END IF;
  RETURN NULL;
END $$;--> statement-breakpoint
-- Transition tables allow one event per trigger, hence three of each.
CREATE TRIGGER "projects_count_insert" AFTER INSERT ON "projects"
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "projects_list_counts"();--> statement-breakpoint
CREATE TRIGGER "projects_count_delete" AFTER DELETE ON "projects"
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION "projects_list_counts"();--> statement-breakpoint
CREATE TRIGGER "projects_count_update" AFTER UPDATE ON "projects"
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "projects_list_counts"();--> statement-breakpoint
CREATE TRIGGER "community_posts_count_insert" AFTER INSERT ON "community_posts"
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "community_posts_list_counts"();--> statement-breakpoint
CREATE TRIGGER "community_posts_count_delete" AFTER DELETE ON "community_posts"
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION "community_posts_list_counts"();--> statement-breakpoint
CREATE TRIGGER "community_posts_count_update" AFTER UPDATE ON "community_posts"
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "community_posts_list_counts"();--> statement-breakpoint
-- TRUNCATE fires no row-set triggers: it resets the table's scopes instead.
CREATE FUNCTION "list_counts_truncated"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM "list_counts" WHERE "scope" = TG_ARGV[0] OR "scope" LIKE TG_ARGV[0] || ':%';
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER "projects_count_truncate" AFTER TRUNCATE ON "projects"
  FOR EACH STATEMENT EXECUTE FUNCTION "list_counts_truncated"('projects');--> statement-breakpoint
CREATE TRIGGER "community_posts_count_truncate" AFTER TRUNCATE ON "community_posts"
  FOR EACH STATEMENT EXECUTE FUNCTION "list_counts_truncated"('posts');--> statement-breakpoint
INSERT INTO "list_counts" ("scope", "slot", "n")
  SELECT 'projects', 0, count(*) FROM "projects" HAVING count(*) > 0
  UNION ALL SELECT 'projects:owner:' || "owner_id", 0, count(*) FROM "projects" GROUP BY "owner_id"
  UNION ALL SELECT 'posts', 0, count(*) FROM "community_posts" HAVING count(*) > 0
  UNION ALL SELECT 'posts:status:' || "status", 0, count(*) FROM "community_posts" GROUP BY "status";
