package io.fuserank.tools;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of {@code bin/fuserank}: one subcommand per job. */
@Command(
    name = "fuserank",
    mixinStandardHelpOptions = true,
    versionProvider = FuseRankCli.Version.class,
    description = "fuserank: ALBEF-style text-to-image search in Elasticsearch.",
    subcommands = { CheckRuntimeCommand.class, CreateIndexCommand.class, IndexCommand.class, SearchCommand.class, EncodeCommand.class }
)
public final class FuseRankCli {

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** picocli's default exit codes are the project's: 0 ok, 1 the job failed, 2 bad arguments. */
    public static CommandLine commandLine() {
        return new CommandLine(new FuseRankCli());
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String version = FuseRankCli.class.getPackage().getImplementationVersion();
            return new String[] { "fuserank " + (version == null ? "(development build)" : version) };
        }
    }
}
