-- Whether live vouched for the room a line names (rpc.live.room.verify_sources.v1): NULL exactly when the line
-- names no room; false when live did not answer in time and the room was kept unverified. Lines written before
-- this column had no recorded answer, so they are false (not known to be verified), except flash-sale lines:
-- live made those admissions in that room.
ALTER TABLE order_lines ADD COLUMN room_verified boolean;
UPDATE order_lines SET room_verified = (admission_id IS NOT NULL) WHERE room_id IS NOT NULL;
ALTER TABLE order_lines
    ADD CONSTRAINT order_lines_room_verified_check CHECK ((room_id IS NULL) = (room_verified IS NULL));
