-- The short video a reserved line was bought from (the checkout item's `video_id`, else the cart line's `video`
-- source), beside its room: orders carries it onto the order line. Text like room_id: an id minted by live.
ALTER TABLE reservation_lines ADD COLUMN video_id text;
