import { Agent as HttpsAgent } from 'node:https';
import { rootCertificates } from 'node:tls';
import axios, { type AxiosInstance } from 'axios';
import type { ResolvedOptions } from '../options/resolved-options.js';

/**
 * The axios instance of a client's `ClientCredentialsHttpService`: a fresh one, or — with `mtls` —
 * one whose https agent presents the client's certificate to the APIs it calls (so they can check
 * a certificate-bound token's `cnf["x5t#S256"]`, RFC 8705 §3) and trusts Node's CAs plus
 * `mtls.ca`. Proxies are axios' own business: it reads `HTTPS_PROXY` / `NO_PROXY` itself unless
 * told `proxy: false`; `http.dispatcher` and `http.fetch` are for the ID service only.
 */
export function httpServiceAxios(mtls: ResolvedOptions['mtls']): AxiosInstance {
  if (mtls === undefined) return axios.create();
  const httpsAgent = new HttpsAgent({
    keepAlive: true,
    cert: mtls.cert,
    key: mtls.key,
    ...(mtls.ca === undefined ? {} : { ca: [...rootCertificates, mtls.ca] }),
  });
  return axios.create({ httpsAgent });
}
