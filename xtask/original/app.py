# The original backend, reconstructed for `cargo xtask bench api` (the write-up in
# shared/seed/ shows its Dockerfile, compose file and output, not its source). It does what
# the write-up shows: INCR total_visits in Redis and answer with jsonify and the five keys,
# served by Flask's own development server as `python app.py` (the seed's CMD).
# Only the listening address and the store address come from the environment, so the
# benchmark can run it beside the other servers.
import os
import socket

import redis
from flask import Flask, jsonify

app = Flask(__name__)
r = redis.Redis(
    host=os.environ.get("REDIS_HOST", "redis"),
    port=int(os.environ.get("REDIS_PORT", "6379")),
)


@app.route("/")
def index():
    visits = r.incr("total_visits")
    return jsonify(
        {
            "message": "Halo dari Backend API!",
            "container_id": socket.gethostname(),
            "total_visits": visits,
            "database_status": "Terhubung",
            "info": "Refresh halaman ini untuk melihat container_id berubah (Load Balancing)",
        }
    )


if __name__ == "__main__":
    app.run(host=os.environ.get("BIND", "0.0.0.0"), port=int(os.environ.get("PORT", "5000")))
