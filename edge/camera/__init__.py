"""Camera analysis at the edge: decoded sources, motion, tracking, zones and events."""
