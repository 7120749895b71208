"""SQL for short videos and their anchors (live schema)."""

from services.live.videos.store import videos
from services.live.videos.store.videos import video_ref

__all__ = ["video_ref", "videos"]
