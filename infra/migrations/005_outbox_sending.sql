-- The outbox records what the sender handed over, and the provider's reference.
ALTER TABLE outbox ADD COLUMN provider_ref text;
