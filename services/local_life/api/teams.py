"""Team buys (拼团): a team as anyone with its id sees it, to decide to join. Public: no token needed."""

from __future__ import annotations

from litestar import get

from libs.errors import NotFound
from libs.runtime import Runtime
from libs.web import documented
from services.local_life.use_cases import teams
from services.local_life.views import TeamView


@get("/teams/{team_id:str}", tags=["teams"], opt=documented(NotFound))
async def get_team(team_id: str, runtime: Runtime) -> TeamView:
    """A team: its deal and size, seats paid, held and left, deadline and status (no buyer ids); 404 team-not-found."""
    return await teams.team_view(runtime, team_id)
