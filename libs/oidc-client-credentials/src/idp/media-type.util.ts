/** The media type of a response's `Content-Type`, lower case, without parameters. */
export function mediaType(response: Response): string | undefined {
  return response.headers.get('content-type')?.split(';')[0].trim().toLowerCase();
}
