# listenin in a container: see README "Running as a service".
#   docker build -t listenin .
#   docker run --network host --env-file /etc/listenin/env \
#     -v /etc/listenin:/etc/listenin:ro -v listenin-data:/var/lib/listenin listenin \
#     run --config /etc/listenin/listenin.toml --archive /var/lib/listenin \
#         --bind HOST_IP --ws-host 0.0.0.0 --trust PLATFORM_CIDR
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends kamailio kamailio-extra-modules \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/listenin
COPY . .
RUN pip install --no-cache-dir . \
 && useradd --system --home-dir /var/lib/listenin --create-home listenin \
 && mkdir -p /etc/listenin \
 && chown listenin:listenin /var/lib/listenin

USER listenin
ENV HOME=/var/lib/listenin
VOLUME /var/lib/listenin

# SIP (UDP/TCP), RTP, websocket API + console
EXPOSE 5070/udp 5070/tcp 16384-32767/udp 8765/tcp

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8765/healthz', timeout=4).status != 200)"

ENTRYPOINT ["listenin"]
# give the whole command with --bind HOST_IP (advertised in SDP: never 0.0.0.0) and --trust
CMD ["run", "--config", "/etc/listenin/listenin.toml", "--archive", "/var/lib/listenin", "--ws-host", "0.0.0.0"]
