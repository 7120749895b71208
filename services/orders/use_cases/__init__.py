"""What orders does: each function runs one request, event or due job, opening its transaction or taking the one
its consumer or job was given."""
