"""What a page needs, assembled from the services' APIs (and, for the dev sign-in, the demo ids `make up` wrote)."""
