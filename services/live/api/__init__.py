"""HTTP API of live: rooms and their lifecycle, the bag and pin, viewers, stats, the room feed."""

from services.live.api.bag import add_to_bag, get_bag, pin_product, remove_from_bag, reorder_bag
from services.live.api.feed import room_feed
from services.live.api.rooms import create_room, echo, edit_room, end_room, get_room, get_state, get_stats, start_room
from services.live.api.viewers import heartbeat, join_room, leave_room

ROUTES = [
    create_room,
    get_room,
    start_room,
    end_room,
    edit_room,
    get_state,
    get_stats,
    add_to_bag,
    get_bag,
    remove_from_bag,
    reorder_bag,
    pin_product,
    join_room,
    heartbeat,
    leave_room,
    room_feed,
    echo,
]
