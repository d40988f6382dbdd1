import type { RawBodyRequest } from '@nestjs/common';
import type { Request } from 'express';
import { recordRequest, type RecordedRequest } from 'nest-oidc-client-credentials/testing';

/** An Express request as the ID service's endpoints read it (the app keeps raw bodies). */
export function recordExpressRequest(req: RawBodyRequest<Request>): RecordedRequest {
  return recordRequest({
    method: req.method,
    url: req.originalUrl,
    headers: req.headers,
    body: req.rawBody?.toString('utf8') ?? '',
  });
}
