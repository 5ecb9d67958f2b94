// Starts DynamoDB Local bound to one address (loopback) and stops it when its parent goes away.
//
// Why a launcher: DynamoDB Local's CLI has no option for the listen address; its DynamoDBProxyServer builds Jetty's
// Server(port), whose connector binds every interface. This sets the connector's host before start, through the
// same server object the CLI would create. emulators.ts compiles it once per machine with javac into a cache folder
// (no .class is committed).
//
// Usage: java -cp <classes>:DynamoDBLocal.jar:DynamoDBLocal_lib/* DynamoDbLocalLoopback <host> <port> <DynamoDB Local CLI args…>
//
// Port: set on the connector like the host, because the CLI refuses 0 ("Port number must lie between 1 and 65535").
// With 0 the kernel picks a free port as Jetty binds, and the first line on stdout names it
// ("DynamoDB Local listening on <host>:<port>"). Picking a free port in Node and passing it on left a gap of seconds
// (the JVM's start) in which another process could take it: test projects starting emulators side by side then
// shared one JVM without knowing.
//
// Parent watch: the Node parent keeps this process's stdin open; EOF (the parent exited, even by SIGKILL) stops
// the server, so no DynamoDB Local is left behind.
import java.lang.reflect.Field;
import java.util.Arrays;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public class DynamoDbLocalLoopback {
  public static void main(String[] args) throws Exception {
    String host = args[0];
    int wantedPort = Integer.parseInt(args[1]);
    String[] cli = Arrays.copyOf(Arrays.copyOfRange(args, 2, args.length), args.length);
    // A valid placeholder for the CLI's check; the connector's port is set below, before anything binds.
    cli[args.length - 2] = "-port";
    cli[args.length - 1] = "8000";
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(cli);
    Field field = DynamoDBProxyServer.class.getDeclaredField("server");
    field.setAccessible(true);
    Server jetty = (Server) field.get(proxy);
    for (Connector connector : jetty.getConnectors()) {
      if (connector instanceof ServerConnector) {
        ((ServerConnector) connector).setHost(host);
        ((ServerConnector) connector).setPort(wantedPort);
      }
    }
    Thread watch = new Thread(() -> {
      try {
        while (System.in.read() >= 0) {
          // Nothing is sent on stdin; reading only waits for EOF.
        }
      } catch (Exception ignored) {
        // A broken pipe means the parent is gone too.
      }
      System.exit(0);
    });
    watch.setDaemon(true);
    watch.start();
    proxy.start();
    int port = -1;
    for (Connector connector : jetty.getConnectors()) {
      if (connector instanceof ServerConnector) port = ((ServerConnector) connector).getLocalPort();
    }
    System.out.println("DynamoDB Local listening on " + host + ":" + port);
    System.out.flush();
  }
}
