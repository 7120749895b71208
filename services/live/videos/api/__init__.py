"""HTTP API of short videos."""

from services.live.videos.api.videos import delete_video, get_video, list_videos, publish_video, room_replays

ROUTES = [publish_video, list_videos, get_video, delete_video, room_replays]
