# Both programs in one small image; compose.yaml runs it as the loader and the API.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /out/elier-etl ./cmd/etl && CGO_ENABLED=0 go build -o /out/elier-api ./cmd/api

FROM debian:bookworm-slim
COPY --from=build /out/ /usr/local/bin/
USER 65534
EXPOSE 3000
ENTRYPOINT ["elier-api"]
