"""What flash sales do for a host, a buyer, a consumer or a job; the admission engine of this process."""
