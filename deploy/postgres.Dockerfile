# The cluster demo's database (deploy/compose.cluster.yaml): Debian's
# PostgreSQL 15 on debian:bookworm-slim, not an image from a registry. A
# file of its own, so that building it builds none of deploy/Dockerfile's
# stages. postgresql-common first, told to make no cluster of its own;
# pg-entrypoint.sh makes one in the volume on the first start, with the
# superuser and the database `jobd`. From the repository's root:
#   docker build --network host -f deploy/postgres.Dockerfile -t jobd-postgres .

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        postgresql-common \
 && sed -ri 's/#? *create_main_cluster *=.*/create_main_cluster = false/' \
        /etc/postgresql-common/createcluster.conf \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data
COPY deploy/pg-entrypoint.sh /usr/local/bin/pg-entrypoint.sh
USER postgres
ENV PGDATA=/var/lib/postgresql/data
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
HEALTHCHECK --interval=2s --timeout=3s --start-period=20s --retries=5 \
    CMD ["/usr/lib/postgresql/15/bin/pg_isready", "-q", "-h", "127.0.0.1", "-U", "jobd", "-d", "jobd"]
ENTRYPOINT ["/usr/local/bin/pg-entrypoint.sh"]
