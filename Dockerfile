# Both programs in one small image; compose.yaml runs it as the loader and as
# the two API instances.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
# Only the directories the programs are built from. With BuildKit (Docker's
# default builder) nothing else of the build context is sent, and it holds
# gigabytes nobody needs here: the exports (data/) and the development and
# cluster databases (.pg/, .cluster/). deploy/compose_test.go checks that
# this list covers every package the two commands import.
COPY api ./api
COPY cmd ./cmd
COPY internal ./internal
COPY pkg ./pkg
COPY sql ./sql
RUN CGO_ENABLED=0 go build -o /out/elier-etl ./cmd/etl && CGO_ENABLED=0 go build -o /out/elier-api ./cmd/api

FROM debian:bookworm-slim
COPY --from=build /out/ /usr/local/bin/
USER 65534
EXPOSE 3000
ENTRYPOINT ["elier-api"]
