"""`mrakit report`: the deployment as a picture (HTML), as data (JSON) and as metrics (OpenMetrics)."""
