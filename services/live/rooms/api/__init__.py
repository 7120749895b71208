"""HTTP API of live rooms: rooms and their lifecycle, the bag and pin, visits, stats, the room feed, discovery
(listings, host pages, follows, a merchant's rooms), the echo."""

from services.live.rooms.api.bag import (
    add_to_bag,
    get_bag,
    pin_product,
    remove_deal_from_bag,
    remove_from_bag,
    reorder_bag,
)
from services.live.rooms.api.discovery import (
    follow_host,
    get_host,
    list_rooms,
    merchant_rooms,
    my_following,
    unfollow_host,
)
from services.live.rooms.api.echo import echo
from services.live.rooms.api.feed import room_feed
from services.live.rooms.api.rooms import create_room, edit_room, end_room, get_room, get_state, start_room
from services.live.rooms.api.stats import get_stats
from services.live.rooms.api.visits import heartbeat, join_room, leave_room

ROUTES = [
    list_rooms,
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
    remove_deal_from_bag,
    reorder_bag,
    pin_product,
    join_room,
    heartbeat,
    leave_room,
    room_feed,
    get_host,
    follow_host,
    unfollow_host,
    my_following,
    merchant_rooms,
    echo,
]
