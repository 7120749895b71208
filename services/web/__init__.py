"""The web app: server-rendered pages for sellers, hosts, buyers, clerks and operators, made from the services'
public HTTP APIs with the signed-in user's token. It owns no business data and no schema."""
