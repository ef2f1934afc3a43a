# An agent image: `tessera join` in a container, its pool membership kept in a volume.
#
#   docker build --build-arg SOURCE_REVISION_ID=$(git rev-parse HEAD) -t tessera .
#   docker run -d --name tessera-agent --restart unless-stopped --network host \
#     -v tessera-agent:/var/lib/tessera -e TESSERA_JOIN_TOKEN=tsr1_... tessera
#   docker run ... tessera join tsr1_... --name gpu-box           (the same, options given)
#
# The token is read on the first start only; later starts, and restarts, reconnect with the identity in the volume.
# docs/install.md says more (host network, GPUs, the coordinator in a container, and what was tested).

# The SDK runs on the build machine and publishes for the image's platform (docker buildx --platform linux/arm64 needs no emulation).
FROM --platform=$BUILDPLATFORM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG TARGETARCH
# The commit `tessera version` prints: .git is not sent to the build (.dockerignore), so pass it.
ARG SOURCE_REVISION_ID=
WORKDIR /src
COPY . .
RUN case "$TARGETARCH" in amd64|"") rid=linux-x64 ;; arm64) rid=linux-arm64 ;; *) echo "no .NET runtime for $TARGETARCH" >&2; exit 1 ;; esac \
 && SOURCE_REVISION_ID="$SOURCE_REVISION_ID" scripts/publish.sh --no-compress --out /out "$rid" \
 && mv /out/tessera-*-"$rid" /out/tessera \
 && mkdir /out/data

# runtime-deps: what a self-contained .NET program needs of the system (glibc, OpenSSL, CA certificates). No RUN below, so
# an image for another platform builds without emulating it.
FROM mcr.microsoft.com/dotnet/runtime-deps:10.0
COPY --from=build /out/tessera /usr/local/bin/tessera
# The data directory, owned by the image's non-root user "app" (uid 1654, $APP_UID): a named volume mounted there starts
# as a copy of it, so the agent can write its identity and models.
COPY --from=build --chown=1654:1654 /out/data /var/lib/tessera
USER 1654
# TESSERA_HOME: the default data directory of every command. The single file unpacks its native library (SQLite) into /tmp.
ENV TESSERA_HOME=/var/lib/tessera \
    DOTNET_BUNDLE_EXTRACT_BASE_DIR=/tmp
VOLUME /var/lib/tessera
ENTRYPOINT ["tessera"]
CMD ["join"]
