"""Device adapters: each turns one kind of device source into gridwatch readings and
events for the agent (see `base.Adapter`)."""
