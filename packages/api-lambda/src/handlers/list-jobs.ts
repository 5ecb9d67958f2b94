// STUB — owned by the API engineer. Lambda entry point (bundled by CDK's NodejsFunction).
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';

export async function handler(_event: APIGatewayProxyEventV2): Promise<APIGatewayProxyResultV2> {
  return { statusCode: 501, body: 'not implemented' };
}
