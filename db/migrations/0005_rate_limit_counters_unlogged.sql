-- Rate-limit counters are written on every API request and are worthless after their window:
-- an unlogged table skips the write-ahead log (no fsync wait per request). After a crash
-- PostgreSQL empties it, which only hands every client a fresh window.
ALTER TABLE "rate_limit_counters" SET UNLOGGED;
