"""The benchmark harness: this app against simplejwt + its blacklist app, in the same run."""
