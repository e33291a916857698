"""OpenVidu webhook bridge: the HTTP ingress that journals each event and publishes it to RabbitMQ."""
