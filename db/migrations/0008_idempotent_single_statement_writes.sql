-- An assertion a single statement can make about its own data-modifying parts: it aborts the
-- statement (and so undoes every part of it) with the given SQLSTATE when `ok` is not true.
-- The idempotent one-statement insert (server/http/idempotency.ts) uses it when it took a key's
-- lock but found the key stored meanwhile: its business row must not outlive the failed claim.
CREATE FUNCTION "raise_unless"(ok boolean, code text, message text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF ok IS NOT TRUE THEN
    RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message;
  END IF;
  RETURN true;
END $$;
