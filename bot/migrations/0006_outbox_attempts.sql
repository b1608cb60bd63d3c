-- When a send of a delivery last started. Set (and committed) before the request goes to Discord, so after a
-- crash or a lost response the bot knows the message may already be there and looks for it in the channel's
-- recent history before sending again: Discord's nonce check covers only the last few minutes.
ALTER TABLE deliveries ADD COLUMN attempted_at INTEGER;
-- The newest invite of a member for a talk supersedes the pending older ones (only the latest state goes out).
CREATE INDEX deliveries_member ON deliveries (talk_id, recipient_id, status);
