-- While one process sends an owed message, others leave it alone: claimed_until (unix seconds) is the end of
-- that process's lease on the row, set when it claims the row and cleared when it postpones it. A process
-- that dies mid-send leaves a lease that lapses on its own, or that its successor for those servers lifts
-- at start-up (TalkService.release_claims).
ALTER TABLE deliveries ADD COLUMN claimed_until INTEGER;
