namespace Tessera.Pool.Coordinator;

/// <summary>The hand-written OpenAPI 3.0 description of /api, served at /api/openapi.json.</summary>
internal static class OpenApiDocument
{
    public const string Json = """
{
  "openapi": "3.0.3",
  "info": { "title": "Tessera pool API", "version": "1", "description": "Control plane of a Tessera pool: nodes, devices, join tokens and events. Admin endpoints need 'Authorization: Bearer <admin key>' (the key is in admin.key in the coordinator's data directory)." },
  "components": {
    "securitySchemes": { "adminKey": { "type": "http", "scheme": "bearer" } },
    "schemas": {
      "Error": { "type": "object", "properties": { "error": { "type": "string" } } },
      "Health": { "type": "object", "properties": { "status": { "type": "string" }, "poolId": { "type": "string" }, "caSha256": { "type": "string" }, "joinAddress": { "type": "string" } } },
      "Cpu": { "type": "object", "properties": { "model": { "type": "string" }, "logicalCores": { "type": "integer" }, "simd": { "type": "array", "items": { "type": "string" } }, "speedGBps": { "type": "number" }, "busyPercent": { "type": "number" } } },
      "Gpu": { "type": "object", "properties": { "index": { "type": "integer" }, "name": { "type": "string" }, "memoryTotalBytes": { "type": "integer", "format": "int64" }, "memoryFreeBytes": { "type": "integer", "format": "int64" }, "computeCapability": { "type": "string" }, "driverVersion": { "type": "string" }, "utilizationPercent": { "type": "number" }, "speedGBps": { "type": "number" }, "device": { "type": "string", "example": "gpu0" } } },
      "Node": { "type": "object", "properties": {
        "id": { "type": "string" }, "name": { "type": "string" },
        "state": { "type": "string", "enum": ["joining", "ready", "suspect", "down", "draining", "left"] },
        "drained": { "type": "boolean" }, "address": { "type": "string" },
        "joinedAt": { "type": "string", "format": "date-time" }, "lastHeartbeat": { "type": "string", "format": "date-time", "nullable": true },
        "connected": { "type": "boolean" }, "cpu": { "$ref": "#/components/schemas/Cpu" },
        "ramTotalBytes": { "type": "integer", "format": "int64" }, "ramFreeBytes": { "type": "integer", "format": "int64" }, "diskFreeBytes": { "type": "integer", "format": "int64" },
        "gpus": { "type": "array", "items": { "$ref": "#/components/schemas/Gpu" } }, "os": { "type": "string" }, "agentVersion": { "type": "string" } } },
      "Device": { "type": "object", "properties": { "id": { "type": "string", "example": "node_x/gpu0" }, "nodeId": { "type": "string" }, "nodeName": { "type": "string" }, "nodeState": { "type": "string" }, "kind": { "type": "string", "enum": ["cpu", "gpu"] }, "index": { "type": "integer" }, "name": { "type": "string" }, "memoryTotalBytes": { "type": "integer", "format": "int64" }, "memoryFreeBytes": { "type": "integer", "format": "int64" }, "speedGBps": { "type": "number" } } },
      "Token": { "type": "object", "properties": { "id": { "type": "string" }, "description": { "type": "string" }, "createdAt": { "type": "string", "format": "date-time" }, "expiresAt": { "type": "string", "format": "date-time" }, "revokedAt": { "type": "string", "format": "date-time", "nullable": true }, "uses": { "type": "integer" }, "status": { "type": "string", "enum": ["valid", "expired", "revoked"] } } },
      "CreateToken": { "type": "object", "properties": { "ttl": { "type": "string", "example": "24h" }, "description": { "type": "string" } } },
      "CreatedToken": { "type": "object", "properties": { "id": { "type": "string" }, "token": { "type": "string" }, "expiresAt": { "type": "string", "format": "date-time" }, "joinCommand": { "type": "string" } } },
      "Event": { "type": "object", "properties": { "id": { "type": "integer", "format": "int64" }, "at": { "type": "string", "format": "date-time" }, "kind": { "type": "string" }, "nodeId": { "type": "string", "nullable": true }, "fromState": { "type": "string", "nullable": true }, "toState": { "type": "string", "nullable": true }, "message": { "type": "string" } } },
      "Link": { "type": "object", "properties": { "fromNodeId": { "type": "string" }, "toNodeId": { "type": "string" }, "rttMs": { "type": "number" }, "jitterP99Ms": { "type": "number" }, "bandwidthMbps": { "type": "number" }, "measuredAt": { "type": "string", "format": "date-time" }, "rttP99Ms": { "type": "number" }, "loss": { "type": "number" }, "samples": { "type": "integer" }, "error": { "type": "string", "nullable": true } } }
    },
    "responses": {
      "Unauthorized": { "description": "Missing or wrong admin key", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
      "NotFound": { "description": "No such node or token", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
      "BadPage": { "description": "A limit that is not a whole number from 1 up, or a cursor that names nothing", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
    },
    "parameters": {
      "Limit": { "name": "limit", "in": "query", "description": "Items per page: 500 when absent, at most 1000 (a larger limit is served as 1000)", "schema": { "type": "integer", "minimum": 1, "default": 500 } }
    },
    "headers": {
      "NextPage": { "description": "Link: <URL>; rel=\"next\" with the URL of the next page; absent on the last page", "schema": { "type": "string" } }
    }
  },
  "paths": {
    "/api/health": { "get": { "summary": "Liveness and pool identity", "responses": { "200": { "description": "OK", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Health" } } } } } } },
    "/api/ca": { "get": { "summary": "The pool CA certificate (PEM); check its SHA-256 against the fingerprint in a join token", "responses": { "200": { "description": "PEM", "content": { "application/x-pem-file": {} } } } } },
    "/api/nodes": { "get": { "summary": "A page of nodes in join order", "security": [{ "adminKey": [] }],
      "parameters": [{ "name": "after", "in": "query", "description": "Id of the last node of the previous page", "schema": { "type": "string" } }, { "$ref": "#/components/parameters/Limit" }],
      "responses": { "200": { "description": "Nodes", "headers": { "Link": { "$ref": "#/components/headers/NextPage" } }, "content": { "application/json": { "schema": { "type": "array", "items": { "$ref": "#/components/schemas/Node" } } } } }, "400": { "$ref": "#/components/responses/BadPage" }, "401": { "$ref": "#/components/responses/Unauthorized" } } } },
    "/api/nodes/{node}": {
      "parameters": [{ "name": "node", "in": "path", "required": true, "description": "Node id or unique name", "schema": { "type": "string" } }],
      "get": { "summary": "One node", "security": [{ "adminKey": [] }], "responses": { "200": { "description": "Node", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Node" } } } }, "401": { "$ref": "#/components/responses/Unauthorized" }, "404": { "$ref": "#/components/responses/NotFound" } } },
      "delete": { "summary": "Remove the node (state left; its certificate is refused from now on)", "security": [{ "adminKey": [] }], "responses": { "200": { "description": "Node", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Node" } } } }, "401": { "$ref": "#/components/responses/Unauthorized" }, "404": { "$ref": "#/components/responses/NotFound" } } } },
    "/api/nodes/{node}/drain": { "parameters": [{ "name": "node", "in": "path", "required": true, "schema": { "type": "string" } }], "post": { "summary": "Drain the node: no new work is placed on it", "security": [{ "adminKey": [] }], "responses": { "200": { "description": "Node", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Node" } } } }, "401": { "$ref": "#/components/responses/Unauthorized" }, "404": { "$ref": "#/components/responses/NotFound" } } } },
    "/api/nodes/{node}/remove": { "parameters": [{ "name": "node", "in": "path", "required": true, "schema": { "type": "string" } }], "post": { "summary": "Same as DELETE /api/nodes/{node}", "security": [{ "adminKey": [] }], "responses": { "200": { "description": "Node" }, "401": { "$ref": "#/components/responses/Unauthorized" }, "404": { "$ref": "#/components/responses/NotFound" } } } },
    "/api/devices": { "get": { "summary": "A page of devices (each node's CPU and GPUs, nodes in join order) with memory and measured speed", "security": [{ "adminKey": [] }],
      "parameters": [{ "name": "after", "in": "query", "description": "Id (NODE/DEVICE) of the last device of the previous page", "schema": { "type": "string" } }, { "$ref": "#/components/parameters/Limit" }],
      "responses": { "200": { "description": "Devices", "headers": { "Link": { "$ref": "#/components/headers/NextPage" } }, "content": { "application/json": { "schema": { "type": "array", "items": { "$ref": "#/components/schemas/Device" } } } } }, "400": { "$ref": "#/components/responses/BadPage" }, "401": { "$ref": "#/components/responses/Unauthorized" } } } },
    "/api/tokens": {
      "get": { "summary": "Join tokens (never their secrets)", "security": [{ "adminKey": [] }], "responses": { "200": { "description": "Tokens", "content": { "application/json": { "schema": { "type": "array", "items": { "$ref": "#/components/schemas/Token" } } } } }, "401": { "$ref": "#/components/responses/Unauthorized" } } },
      "post": { "summary": "Create a join token", "security": [{ "adminKey": [] }], "requestBody": { "content": { "application/json": { "schema": { "$ref": "#/components/schemas/CreateToken" } } } }, "responses": { "201": { "description": "Created; the token text is shown only now", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/CreatedToken" } } } }, "400": { "description": "Bad ttl", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }, "401": { "$ref": "#/components/responses/Unauthorized" } } } },
    "/api/tokens/{id}": { "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }], "delete": { "summary": "Revoke a token", "security": [{ "adminKey": [] }], "responses": { "200": { "description": "Token", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Token" } } } }, "401": { "$ref": "#/components/responses/Unauthorized" }, "404": { "$ref": "#/components/responses/NotFound" } } } },
    "/api/events": { "get": { "summary": "A page of events (state transitions, joins, token changes), oldest first or with order=desc newest first", "security": [{ "adminKey": [] }],
      "parameters": [{ "name": "after", "in": "query", "description": "Only events with a larger id", "schema": { "type": "integer", "format": "int64" } }, { "name": "before", "in": "query", "description": "Only events with a smaller id", "schema": { "type": "integer", "format": "int64" } }, { "name": "order", "in": "query", "schema": { "type": "string", "enum": ["asc", "desc"], "default": "asc" } }, { "name": "limit", "in": "query", "description": "At most 5000", "schema": { "type": "integer", "minimum": 1, "default": 200 } }, { "name": "node", "in": "query", "schema": { "type": "string" } }],
      "responses": { "200": { "description": "Events", "headers": { "Link": { "$ref": "#/components/headers/NextPage" } }, "content": { "application/json": { "schema": { "type": "array", "items": { "$ref": "#/components/schemas/Event" } } } } }, "400": { "$ref": "#/components/responses/BadPage" }, "401": { "$ref": "#/components/responses/Unauthorized" } } } },
    "/api/links/observed": { "get": { "summary": "The links' latencies as deployments' pipelines showed them (a decoded token's time on the link both ways, less the transfer at the measured bandwidth): what plans use in place of the probe's round trip", "security": [{ "adminKey": [] }], "responses": { "200": { "description": "Observed hops", "content": { "application/json": { "schema": { "type": "array", "items": { "type": "object", "properties": { "nodeA": { "type": "string" }, "nodeB": { "type": "string" }, "latencyMs": { "type": "number" } } } } } } }, "401": { "$ref": "#/components/responses/Unauthorized" } } } },
    "/api/links": { "get": { "summary": "A page of the measured links between nodes, in (from, to) order: the latest measurement of each, from the node (or the coordinator) that measured it", "security": [{ "adminKey": [] }], "parameters": [{ "name": "after", "in": "query", "description": "FROM/TO of the last link of the previous page", "schema": { "type": "string" } }, { "$ref": "#/components/parameters/Limit" }], "responses": { "200": { "description": "Links", "headers": { "Link": { "$ref": "#/components/headers/NextPage" } }, "content": { "application/json": { "schema": { "type": "array", "items": { "$ref": "#/components/schemas/Link" } } } } }, "401": { "$ref": "#/components/responses/Unauthorized" } } } }
  }
}
""";
}
