-- The short video an order line was bought from (the checkout item's `video_id`, else the cart line's `video`
-- source, as shop's reservation carries it), beside its room: OrderLine.video_id in orders' events, which the
-- funnel attributes the line by. Text like room_id: an id minted by live.
ALTER TABLE order_lines ADD COLUMN video_id text;
